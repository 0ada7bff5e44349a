"""What-if replay of a changed rule before publishing (issue 14); the engine part is engine/replay."""
