"""Grading on Gradescope and PrairieLearn: packages whose entry point grades one submission.

`bundle` copies what a grading container needs (the engine, the hidden graders, the skeleton);
`single` grades one submission per process and words its feedback for students; `gradescope`
and `prairielearn` each build their platform's files and turn a result into its results.json.
"""
