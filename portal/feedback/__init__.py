"""Feedback and complaints (phản ánh, kiến nghị): filed by anyone with a contact, answered by the agency's staff
within working days, published without personal data where the filer agrees (docs/FEEDBACK.md)."""
