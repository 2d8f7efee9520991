"""crossvideo-kedro: CrossVideo self-supervised pretraining for point cloud videos, as a Kedro project."""

__version__ = "0.1.0"
