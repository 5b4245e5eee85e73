"""Plots (matplotlib). Every function returns the Figure and never calls ``plt.show()``."""

from bottlekit.visualize.information_plane import plot_information_plane

__all__ = ["plot_information_plane"]
