"""The foundation every other part of mdembed stands on, knowing no scenario: one-line errors, registries by name,
seeded random streams, atomic result files, the run-directory lock, job outcomes, memory estimates, progress,
provenance, graceful stopping, the shared argument parser and the generic checks of a setting's value."""
