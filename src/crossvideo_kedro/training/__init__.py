"""Training loops and their machinery (schedules, checkpoints, distributed), free of Kedro."""
