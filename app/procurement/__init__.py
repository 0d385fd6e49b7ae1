"""Credit in procurement (投标人资格审查): a tenderer screens its bidders' codes in one batch
against the tender's credit rules; each result is a signed document, verifiable like a
report, kept, and seen by every screened firm in its query log."""
