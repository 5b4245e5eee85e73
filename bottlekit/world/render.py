"""Vectorised drawing of world birds with numpy: images and per-part pixel masks.

Every bird is drawn in a 64-unit canvas facing right, from simple shapes (ellipses,
circles, triangles) whose size and pattern follow the sampled options, then
mirrored for birds facing left. Parts are painted back to front (tail, body, wing,
head, beak) so each part mask holds exactly the pixels where that part is visible;
the masks and the background mask partition the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import byte_size, check_generator, is_number, physical_memory
from bottlekit.world.species import GROUP_KEYS, GROUPS, PART_NAMES, check_options

CANVAS = 64.0
"""Side of the drawing canvas in canvas units; images of side ``size`` scale it."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 40, 40),
    "blue": (45, 85, 205),
    "yellow": (235, 205, 40),
    "green": (60, 160, 60),
    "grey": (135, 135, 135),
    "black": (30, 30, 30),
    "white": (240, 240, 240),
    "brown": (125, 80, 40),
    "orange": (245, 140, 25),
}
TAIL_COLOUR = (95, 80, 75)
TAIL_BAND_COLOUR = (215, 205, 185)
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "water": (40, 100, 170),
    "forest": (40, 95, 45),
    "sand": (225, 205, 150),
    "sky": (150, 200, 245),
    "snow": (232, 236, 244),
}
COLOUR_JITTER = 15
"""Largest per-channel offset added to each part's colour in each image."""
TAIL_LONG, TAIL_SHORT = 17.0, 9.0
"""Tail lengths from the tail root (5 units behind the body centre), in canvas units."""
BEAK_LONG, BEAK_SHORT = 8.0, 3.5

_G = {k: i for i, k in enumerate(GROUP_KEYS)}

DRAWING_BYTES = 44
"""Bytes a pixel of :func:`render_birds`' temporary arrays (coordinates, shapes, patterns)
for each image it draws at once, beyond the images and masks it returns (measured: 43)."""


def check_image_memory(
    n: int,
    size: int,
    *,
    masks: bool,
    call: str,
    arguments: str,
    advice: str,
    at_once: int = 0,
    copied: bool = False,
) -> None:
    """Refuse to draw ``n`` images of ``size`` px that need more bytes than the machine has.

    The images (3 bytes a pixel) and part masks (one byte a pixel per part) are allocated
    before drawing, and :func:`render_birds` needs :data:`DRAWING_BYTES` a pixel more for
    each of the ``at_once`` images it draws in one call (and 9 for its own images and
    masks, when they are ``copied`` into the caller's); a request larger than the
    physical memory would fail inside numpy's allocator, or be granted lazily and push the
    machine into swap. The check happens before anything is allocated.

    Parameters
    ----------
    n, size : int
        Number of images and their side in pixels.
    masks : bool
        Whether part masks are allocated too.
    call : str
        The function, first word of the message.
    arguments : str
        The arguments as received, e.g. ``"n=1000000000, image_size=64"``.
    advice : str
        What to do instead.
    at_once : int
        Images drawn by one call of :func:`render_birds` (0: the drawing is not counted).
    copied : bool
        Whether the caller copies the images and masks that :func:`render_birds` returns
        into arrays of its own (:func:`~bottlekit.world.make_world` does).

    Raises
    ------
    ValueError
        If the machine's physical memory is too small, saying how many images fit.

    Examples
    --------
    >>> check_image_memory(10, 64, masks=True, call="make_world", arguments="n=10",
    ...                    advice="draw fewer")
    >>> check_image_memory(10**12, 64, masks=False, call="make_world",
    ...                    arguments="n=10**12", advice="draw fewer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: make_world: n=10**12 asks for ... of images (3 bytes a pixel), more than ...
    """
    per_pixel = 3 + (len(PART_NAMES) if masks else 0)
    pixels = size * size
    drawn = min(n, at_once)
    drawing_bytes = DRAWING_BYTES + (3 + len(PART_NAMES) if copied else 0)
    need = n * pixels * per_pixel + drawn * pixels * drawing_bytes
    have = physical_memory()
    if have is not None and need > have:
        what = "images and part masks" if masks else "images"
        drawing = ""
        if drawn:
            drawing = (
                f" and {byte_size(drawn * pixels * drawing_bytes)} to draw them "
                f"({drawing_bytes} bytes a pixel of the {drawn} images drawn at once)"
            )
        if have // pixels >= at_once * (per_pixel + drawing_bytes):
            most = (have // pixels - at_once * drawing_bytes) // per_pixel
        else:
            most = have // pixels // (per_pixel + drawing_bytes)
        raise ValueError(
            f"{call}: {arguments} asks for {byte_size(n * pixels * per_pixel)} of {what} "
            f"({per_pixel} bytes a pixel){drawing}, more than this machine's "
            f"{byte_size(have)} of memory; expected at most {most} images of this size "
            f"({advice})"
        )


def check_layout(layout: Any, n: int) -> None:
    """Refuse a :class:`Layout` that does not give every bird a finite place and scale > 0.

    Parameters
    ----------
    layout : Layout
        The layout to check.
    n : int
        The number of birds it must place.

    Raises
    ------
    TypeError
        If ``layout`` is not a :class:`Layout`.
    ValueError
        If a field does not hold ``n`` finite values, or a scale is not > 0.

    Examples
    --------
    >>> ok = Layout(np.array([32.0]), np.array([32.0]), np.array([1.0]), np.array([False]))
    >>> check_layout(ok, 1)
    >>> check_layout(ok, 2)
    Traceback (most recent call last):
    ...
    ValueError: layout.cx: expected shape (2,) (one per row of options), got (1,)
    """
    if not isinstance(layout, Layout):
        raise TypeError(
            f"layout: expected a bottlekit.world.render.Layout or None, got "
            f"{type(layout).__name__}"
        )
    for field in ("cx", "cy", "scale", "flip"):
        value = as_real_array(getattr(layout, field), f"layout.{field}", dtype=None)
        if value.shape != (n,):
            raise ValueError(
                f"layout.{field}: expected shape ({n},) (one per row of options), got "
                f"{value.shape}"
            )
        if not np.isfinite(value.astype(np.float64)).all():
            raise ValueError(f"layout.{field}: contains NaN or inf; expected finite values")
    if (np.asarray(layout.scale) <= 0).any():
        raise ValueError("layout.scale: expected values > 0 (a bird of scale 0 is not drawn)")


@dataclass
class Layout:
    """Where each bird is drawn: centre of the body, scale and facing direction.

    Parameters
    ----------
    cx, cy : ndarray of float, shape (n,)
        Centre of each body on the 64-unit canvas (x to the right, y down).
    scale : ndarray of float, shape (n,)
        Size of each bird relative to the standard one (> 0).
    flip : ndarray of bool, shape (n,)
        True where the drawn image is mirrored left to right (the bird, drawn facing
        right, then faces left).

    Examples
    --------
    >>> layout = sample_layout(np.array([True, False]), np.random.default_rng(0))
    >>> len(layout), bool(layout.scale[0] > layout.scale[1])
    (2, True)
    """

    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    flip: np.ndarray

    def __len__(self) -> int:
        return len(self.cx)


def sample_layout(large: np.ndarray, rng: np.random.Generator) -> Layout:
    """Random position, scale (1.22× for large bodies) and direction, bird fully inside.

    Parameters
    ----------
    large : ndarray of bool, shape (n,)
        Which birds have a large body.
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    Layout
        Scales uniform within 7 % of 1 (of 1.22 for large bodies), centres uniform over
        the places that keep the whole bird (tail and beak included) on the canvas,
        each direction with probability 1/2.

    Examples
    --------
    >>> layout = sample_layout(np.zeros(3, bool), np.random.default_rng(0))
    >>> bool(((layout.scale > 0.92) & (layout.scale < 1.08)).all())
    True
    """
    check_generator(rng)
    n = len(large)
    scale = np.where(large, 1.22, 1.0) * rng.uniform(0.93, 1.07, n)
    lo_x = 1.0 + (5.0 + TAIL_LONG) * scale
    hi_x = CANVAS - 1.0 - (12.5 + BEAK_LONG) * scale
    lo_y, hi_y = 1.0 + 16.5 * scale, CANVAS - 1.0 - 7.0 * scale
    cx = lo_x + (hi_x - lo_x) * rng.random(n)
    cy = lo_y + (hi_y - lo_y) * rng.random(n)
    return Layout(cx=cx, cy=cy, scale=scale, flip=rng.random(n) < 0.5)


def _shade(rgb: np.ndarray) -> np.ndarray:
    """Pattern colour that contrasts with ``rgb`` (n, 3): darker for light, lighter for dark."""
    lum = rgb @ np.array([0.3, 0.59, 0.11])
    dark = rgb * 0.45
    light = np.minimum(rgb + 150.0, 255.0)
    return np.where((lum > 90)[:, None], dark, light)


def _triangle(x, y, a, b, c) -> np.ndarray:
    """Points (x, y) inside triangle abc; vertices are (px, py) pairs of (n, 1, 1) arrays."""

    def side(p, q):
        return (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1])

    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(neg & pos)


def _palette(group: str, options: np.ndarray) -> np.ndarray:
    words = GROUPS[_G[group]].options
    table = np.array([COLOURS[w] for w in words], dtype=np.float64)
    return table[options]


def _paint(img: np.ndarray, mask: np.ndarray, base: np.ndarray, pattern=None, alt=None):
    """Paint ``base`` colour (n, 3) where ``mask``; ``alt`` colour where ``mask & pattern``."""
    i, r, c = np.nonzero(mask)
    colour = base.astype(np.uint8)[i]
    if pattern is not None:
        on = np.broadcast_to(pattern, mask.shape)[i, r, c]
        colour = np.where(on[:, None], alt.astype(np.uint8)[i], colour)
    img[i, r, c] = colour


def _backgrounds(bg: np.ndarray, x, y, rng: np.random.Generator, img: np.ndarray) -> None:
    n = len(bg)
    ph, shift, cloud_x, cloud_y = (
        rng.uniform(lo, hi, n).astype(np.float32)[:, None, None]
        for lo, hi in ((0.0, 2 * np.pi), (0.0, 13.0), (8.0, 56.0), (4.0, 24.0))
    )
    tone = rng.uniform(-10.0, 10.0, (n, 1))
    words = GROUPS[_G["background"]].options
    for b, word in enumerate(words):
        idx = np.flatnonzero(bg == b)
        if idx.size == 0:
            continue
        base = np.clip(np.array(BACKGROUNDS[word], dtype=np.float64) + tone[idx], 0, 255)
        m = len(idx)
        if word == "water":
            pat = ((y + 1.5 * np.sin(x * 0.6 + ph[idx])) % 7.0) < 1.3
            alt = np.full((m, 3), (140.0, 185.0, 230.0))
        elif word == "forest":
            pat = ((x + shift[idx]) % 13.0) < 2.5
            alt = np.full((m, 3), (95.0, 65.0, 35.0))
        elif word == "sand":
            pat = ((3.0 * x + 7.0 * y + shift[idx]) % 11.0) < 1.2
            alt = np.full((m, 3), (185.0, 160.0, 110.0))
        elif word == "sky":
            cx, cy = cloud_x[idx], cloud_y[idx]
            pat = ((x - cx) / 12.0) ** 2 + ((y - cy) / 4.5) ** 2 <= 1.0
            alt = np.full((m, 3), (250.0, 250.0, 252.0))
        else:  # snow
            pat = (((x + shift[idx]) % 6.0) < 1.0) & (((y + 2.0 * shift[idx]) % 6.0) < 1.0)
            alt = np.full((m, 3), (190.0, 198.0, 215.0))
        sub = np.empty((m, *img.shape[1:]), dtype=np.uint8)
        sub[...] = base[:, None, None, :].astype(np.uint8)
        np.copyto(
            sub,
            np.broadcast_to(alt[:, None, None, :], sub.shape),
            where=np.broadcast_to(pat, sub.shape[:3])[..., None],
            casting="unsafe",
        )
        img[idx] = sub


def render_birds(
    options: np.ndarray,
    rng: np.random.Generator,
    size: int = 64,
    layout: Layout | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one bird per row of ``options``.

    Parameters
    ----------
    options : numpy.ndarray of int, shape (n, n_groups)
        Option index of every attribute group (``GROUPS`` order) for each image.
    rng : numpy.random.Generator
        Source of layout, colour jitter, pattern phase and background texture.
    size : int
        Image side in pixels (>= 64).
    layout : Layout, optional
        Fixed positions/scales/directions (hand-built test cases); sampled if None.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n, size, size, 3)
        The birds on their backgrounds.
    masks : numpy.ndarray of bool, shape (n, len(PART_NAMES), size, size)
        Visible pixels of each part; the masks partition the image.

    Examples
    --------
    >>> from bottlekit.world.species import GROUPS
    >>> images, masks = render_birds(np.zeros((2, len(GROUPS)), int), np.random.default_rng(0))
    >>> images.shape, masks.shape[:2], bool((masks.sum(1) == 1).all())
    ((2, 64, 64, 3), (2, 6), True)
    """
    options = check_options(options)
    if not is_number(size, integer=True):
        raise TypeError(f"size={size!r}; expected an int >= 64")
    if size < 64:
        raise ValueError(f"size={size!r}; expected an int >= 64")
    size = int(size)
    check_generator(rng)
    n = len(options)
    check_image_memory(
        n,
        size,
        masks=True,
        call="render_birds",
        arguments=f"{n} rows of options, size={size}",
        advice="draw fewer or smaller images at a time",
        at_once=n,
    )
    opt = {k: options[:, i] for k, i in _G.items()}
    if layout is None:
        layout = sample_layout(opt["size"] == 0, rng)
    else:
        check_layout(layout, n)
    coord = ((np.arange(size, dtype=np.float32) + 0.5) * (CANVAS / size)).astype(np.float32)
    x = coord[None, None, :]
    y = coord[None, :, None]

    def col(v):
        return np.asarray(v, dtype=np.float32)[:, None, None]

    s, cx, cy = col(layout.scale), col(layout.cx), col(layout.cy)
    jitter = rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, (5, n, 3))
    offs = rng.uniform(0.0, 5.0, (4, n)).astype(np.float32)[:, :, None, None]

    # tail: a fan behind the body, optionally forked
    tail_len = col(np.where(opt["tail"] == 0, TAIL_LONG, TAIL_SHORT)) * s
    root_x = cx - 5.0 * s
    tip_x = root_x - tail_len
    tail = _triangle(x, y, (root_x, cy), (tip_x, cy - 4.0 * s), (tip_x, cy + 4.0 * s))
    notch = _triangle(
        x,
        y,
        (root_x - 0.5 * tail_len, cy),
        (tip_x - 1.0, cy - 2.6 * s),
        (tip_x - 1.0, cy + 2.6 * s),
    )
    tail &= ~(notch & (col(opt["tail_shape"]) == 0))
    body = ((x - cx) / (10.0 * s)) ** 2 + ((y - cy) / (7.0 * s)) ** 2 <= 1.0
    th = 0.3
    dx, dy = x - (cx - 3.0 * s), y - (cy - 1.0 * s)
    u = dx * np.cos(th) + dy * np.sin(th)
    v = -dx * np.sin(th) + dy * np.cos(th)
    wing_r = (u / (6.5 * s)) ** 2 + (v / (3.8 * s)) ** 2
    wing = wing_r <= 1.0
    hx, hy = cx + 9.0 * s, cy - 6.0 * s
    head_disc = (x - hx) ** 2 + (y - hy) ** 2 <= (5.0 * s) ** 2
    crest = _triangle(
        x,
        y,
        (hx - 3.0 * s, hy - 3.5 * s),
        (hx + 1.5 * s, hy - 4.5 * s),
        (hx - 5.0 * s, hy - 10.5 * s),
    )
    head = head_disc | (crest & (col(opt["crest"]) == 0))
    beak_len = col(np.where(opt["beak"] == 0, BEAK_LONG, BEAK_SHORT)) * s
    beak = _triangle(
        x,
        y,
        (hx + 3.5 * s, hy - 2.0 * s),
        (hx + 3.5 * s, hy + 2.0 * s),
        (hx + 3.5 * s + beak_len, hy + 0.5 * s),
    )

    masks = np.empty((n, len(PART_NAMES), size, size), dtype=bool)
    covered = beak.copy()
    masks[:, PART_NAMES.index("beak")] = beak
    masks[:, PART_NAMES.index("head")] = head & ~covered
    covered |= head
    masks[:, PART_NAMES.index("wing")] = wing & ~covered
    covered |= wing
    masks[:, PART_NAMES.index("body")] = body & ~covered
    covered |= body
    masks[:, PART_NAMES.index("tail")] = tail & ~covered
    covered |= tail
    masks[:, PART_NAMES.index("background")] = ~covered

    img = np.empty((n, size, size, 3), dtype=np.uint8)
    _backgrounds(opt["background"], x, y, rng, img)

    def jit(rgb, i):
        return np.clip(rgb + jitter[i], 0.0, 255.0)

    # tail, optionally banded
    tail_rgb = jit(np.tile(np.array(TAIL_COLOUR, dtype=np.float64), (n, 1)), 0)
    bands = (((x + offs[0]) % 4.0) < 1.8) & (col(opt["tail_pattern"]) == 0)
    _paint(img, masks[:, 3], tail_rgb, bands, np.tile(np.array(TAIL_BAND_COLOUR, float), (n, 1)))
    # body: plain, spotted or striped
    body_rgb = jit(_palette("body", opt["body"]), 1)
    pattern = col(opt["pattern"])
    spots = (((x + offs[1]) % 5.0 - 2.5) ** 2 + ((y + offs[2]) % 5.0 - 2.5) ** 2) < 1.8
    stripes = ((x + offs[1]) % 4.0) < 1.6
    body_pat = (spots & (pattern == 0)) | (stripes & (pattern == 1))
    _paint(img, masks[:, 0], body_rgb, body_pat, _shade(body_rgb))
    # wing: outlined, optionally striped
    wing_rgb = jit(_palette("wings", opt["wings"]), 2)
    wing_stripes = (((x - y + offs[3]) % 4.0) < 1.5) & (col(opt["wing_pattern"]) == 0)
    wing_pat = (wing_r >= 0.7) | wing_stripes
    _paint(img, masks[:, 1], wing_rgb, wing_pat, _shade(wing_rgb))
    # head: eye, optional eye stripe and crest
    head_opt = opt["head"]
    head_rgb = jit(_palette("head", head_opt), 3)
    eye_y = hy - 1.2 * s
    eye = (x - (hx + 1.8 * s)) ** 2 + (y - eye_y) ** 2 <= 1.4**2
    stripe = (np.abs(y - eye_y) < 0.9 * s) & head_disc & (col(opt["eye"]) == 0)
    dark_head = GROUPS[_G["head"]].options.index("black")
    mark = np.where((head_opt == dark_head)[:, None], 235.0, 25.0) * np.ones((1, 3))
    _paint(img, masks[:, 2], head_rgb, eye | stripe, mark)
    # beak
    _paint(img, masks[:, 4], jit(_palette("beak_colour", opt["beak_colour"]), 4))

    flip = np.asarray(layout.flip, dtype=bool)
    if flip.any():
        img[flip] = img[flip][:, :, ::-1]
        masks[flip] = masks[flip][..., ::-1]
    return img, masks
