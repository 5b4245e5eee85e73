"""Information-plane trajectories: I(X;T) against I(T;Y) per layer, coloured by epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit.visualize._plot_style import _target_axes, check_cmap
from bottlekit.visualize._text import plain_text

__all__ = ["plot_information_plane"]


def plot_information_plane(plane: Any, ax: Any = None, cmap: str = "viridis") -> Any:
    """Plot the trajectories recorded by an :class:`~bottlekit.estimators.InformationPlane`.

    Each layer is a line through its records (one marker shape per layer); the markers
    are coloured by epoch, early epochs dark and late ones bright.

    Parameters
    ----------
    plane : InformationPlane
        With at least one record.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made otherwise.
    cmap : str, default "viridis"
        Colour map of the epochs.

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax`` when given, else a new one; its colour bar maps the record
        index (epoch) to the marker colour.

    Examples
    --------
    >>> fig = plot_information_plane(plane)  # doctest: +SKIP
    >>> fig.savefig("information_plane.png")  # doctest: +SKIP
    """
    import matplotlib
    from matplotlib.figure import Figure

    if not all(hasattr(plane, a) for a in ("epochs", "layers", "i_xt", "i_ty", "estimator")):
        raise TypeError(
            f"plane: expected an InformationPlane (epochs, layers, i_xt, i_ty), got "
            f"{type(plane).__name__}"
        )
    if not plane.epochs:
        raise ValueError("plane: nothing recorded yet; call plane.record() during training")
    check_cmap(cmap)
    n_records = len(plane.epochs)
    tracks = {}
    for name in plane.layers:
        for field in ("i_xt", "i_ty"):
            values = getattr(plane, field)
            if name not in values:
                raise ValueError(f"plane.{field}: has no record of layer {name!r}")
            arr = as_real_array(values[name], f"plane.{field}[{name!r}]", wording="must")
            if arr.shape != (n_records,):
                raise ValueError(
                    f"plane.{field}[{name!r}] has shape {arr.shape}; expected one value per "
                    f"record ({n_records},)"
                )
            tracks[name, field] = arr
    if ax is None:
        # a bare Figure: no pyplot state, no backend switch (it displays in notebooks too)
        fig = Figure(figsize=(5.5, 4.2), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig, ax = _target_axes(ax, 5.5, 4.2)
    epochs = np.arange(n_records)
    norm = matplotlib.colors.Normalize(vmin=0, vmax=max(len(epochs) - 1, 1))
    markers = "osD^vP*X"
    for i, name in enumerate(plane.layers):
        x, y = tracks[name, "i_xt"], tracks[name, "i_ty"]
        ax.plot(x, y, color="0.75", lw=0.8, zorder=1)
        ax.scatter(
            x,
            y,
            c=epochs,
            cmap=cmap,
            norm=norm,
            marker=markers[i % len(markers)],
            s=22,
            zorder=2,
            label=f"layer {plain_text(name)}",
            edgecolors="none",
        )
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(sm, ax=ax)
    cbar.set_label("record (epoch index)")
    ax.set_xlabel("I(X;T) [bits]")
    ax.set_ylabel("I(T;Y) [bits]")
    ax.set_title(f"Information plane ({plain_text(plane.estimator)})")
    legend = ax.legend(loc="lower right", fontsize=8)
    for handle in legend.legend_handles:
        handle.set_color("0.3")
    return fig
