"""Credit evaluation: scorecards, grades (AAA…C), the 信用电力指数 and supervision classes."""
