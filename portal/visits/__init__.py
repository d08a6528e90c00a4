"""Visits to the centre by appointment: opening hours, slots, queue numbers (số thứ tự) and the queue served."""
