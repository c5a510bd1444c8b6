"""Content: posts written once (vi/th/en side by side), media attachments and the library of approved messages."""
