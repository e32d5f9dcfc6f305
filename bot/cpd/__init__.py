"""CPD records: a finished reflection turned into evidence for the regulator.

Social Work England asks every registered social worker for at least two pieces of
CPD each registration year (1 December to 30 November), one of them with peer
reflection. A reflection, and a critical friend's feedback on it, is that evidence:

- `bot.cpd.draft` drafts the form's fields from a reflection's answers (pure);
- `bot.cpd.year` says which registration year a date is in, and what is still missing;
- `bot.store.cpd` keeps the records, every field encrypted, each worker's to themselves;
- `bot.cpd.render` lays records out as Markdown and as a PDF;
- `bot.cpd.cli` is `critical-friend cpd export`.

This package imports nothing at start-up: each module is loaded where it is used.
"""
