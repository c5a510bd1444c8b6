"""Policy-communication plans: objectives to KPIs, audience insight from listening, review, crisis mode, exports."""
