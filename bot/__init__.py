"""Critical Friend: a chat bot that walks social workers through reflective practice."""
