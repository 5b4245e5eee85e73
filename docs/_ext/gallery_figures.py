"""The sphinx-gallery scraper of the Figures that bottlekit's plot functions return."""

from __future__ import annotations


def bottlekit_figures(block, block_vars, gallery_conf, **kwargs) -> str:
    """sphinx-gallery scraper for the figures bottlekit's plot functions return.

    They build ``matplotlib.figure.Figure`` objects without pyplot (so a library never
    opens windows), which the matplotlib scraper does not see: save each new Figure
    bound to a name of the example.
    """
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    names = block_vars["example_globals"]
    seen = names.setdefault("__bottlekit_seen_figures__", set())
    paths = []
    for value in list(names.values()):
        if isinstance(value, Figure) and value.canvas.manager is None and id(value) not in seen:
            seen.add(id(value))
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=100)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
