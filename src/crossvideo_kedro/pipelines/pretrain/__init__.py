"""``pretrain``: CrossVideo contrastive pretraining, clip embeddings and cross-modal retrieval."""

from crossvideo_kedro.pipelines.pretrain.pipeline import create_pipeline

__all__ = ["create_pipeline"]
