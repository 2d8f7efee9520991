"""Interactive 3-D views (plotly) of point cloud videos: kedro-viz renders them from a ``plotly.JSONDataset``, and a
notebook shows them with ``fig.show()``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crossvideo_kedro.plots import class_name, label_colors


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(v) * 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def point_video_figure(points: np.ndarray, labels: np.ndarray, classes: Sequence[str] | None, title: str,
                       max_frames: int = 30):
    """A plotly figure of a labelled point cloud video: one trace per class (legend with class names), one
    animation frame per video frame (play button and slider), camera axes turned so that up is up.

    Args:
        points: (T, N, 3) camera frame (x right, y down, z forward), metres.
        labels: (T, N) int class ids (−1 unknown).
        classes: class names, or None.
        title: figure title.
        max_frames: at most this many frames, evenly spaced (keeps the JSON small).
    """
    import plotly.graph_objects as go  # noqa: PLC0415 (only this view needs plotly)

    picks = np.unique(np.linspace(0, len(points) - 1, min(max_frames, len(points))).round().astype(int))
    ids = sorted({int(c) for c in np.unique(labels[picks])}, key=lambda c: (c < 0, c))

    def traces(t: int) -> list:
        xyz = points[t]
        out = []
        for c in ids:
            keep = labels[t] == c
            out.append(go.Scatter3d(x=xyz[keep, 0], y=xyz[keep, 2], z=-xyz[keep, 1], mode="markers",
                                    marker={"size": 2.5, "color": _hex(label_colors(np.array(c)))},
                                    name=class_name(classes, c), legendgroup=str(c)))
        return out

    lo, hi = points[picks].reshape(-1, 3).min(axis=0), points[picks].reshape(-1, 3).max(axis=0)
    scene = {"xaxis": {"title": "x (m)", "range": [lo[0], hi[0]]}, "yaxis": {"title": "depth z (m)",
                                                                             "range": [lo[2], hi[2]]},
             "zaxis": {"title": "up −y (m)", "range": [-hi[1], -lo[1]]}, "aspectmode": "data"}
    frames = [go.Frame(data=traces(t), name=str(t)) for t in picks]
    slider = {"steps": [{"args": [[str(t)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
                         "label": str(t), "method": "animate"} for t in picks],
              "currentvalue": {"prefix": "frame "}}
    play = {"type": "buttons", "showactive": False, "x": 0.0, "y": 0.0,
            "buttons": [{"label": "play", "method": "animate",
                         "args": [None, {"frame": {"duration": 150, "redraw": True}, "fromcurrent": True}]}]}
    return go.Figure(data=traces(picks[0]), frames=frames,
                     layout=go.Layout(title=title, scene=scene, sliders=[slider], updatemenus=[play],
                                      legend={"title": {"text": "predicted class"}, "itemsizing": "constant"},
                                      margin={"l": 0, "r": 0, "t": 40, "b": 0}))
