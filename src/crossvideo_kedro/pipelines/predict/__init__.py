"""``predict``: trained downstream models applied to a new recording (per-frame actions, per-point labels)."""

from crossvideo_kedro.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]
