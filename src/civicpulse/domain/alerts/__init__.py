"""Early warning: emerging issues, alert rules and their lifecycle, and (in ``claims``) the rumour registry."""
