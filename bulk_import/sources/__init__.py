"""Where rows come from: files (csv, python-calamine), stdin, and later a Twilio account.

A source yields :class:`~bulk_import.models.RawRow` (every cell as text, with the row number a
person sees) and knows nothing of phone-number rules, the API or the report.
"""
