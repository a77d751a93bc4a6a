"""What every learner shares, and nothing of any scenario: the learner protocol, the one training loop (checkpoints,
resume, diagnostics), transition buffers, checkpoint files, the compute device and training curves.

A scenario brings a :class:`~mdembed.learning.protocol.TrainingTask` (its environment as steps) and a
:class:`~mdembed.learning.protocol.Learner`; importing this package loads no algorithm and no environment.
"""
