"""Publishing: channels, per-channel variants and their state machine, approvals, scheduling and delivery."""
