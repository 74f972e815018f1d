"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class TinyDeployError(Exception):
    """A problem the user can fix: `str()` names the problem, `fix` says what to do about it."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem} ({self.fix})" if self.fix else self.problem
