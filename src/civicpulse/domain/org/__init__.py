"""Organisation network: units, people, roles, authentication, API tokens, audit log."""
