"""Evaluation of a student model against the teacher on the dataset's test split (``EvaluateStudent``)."""
