"""Typed records of the grader: what a job is and what grading it found."""

from dataclasses import asdict, dataclass, field

# Timing constants (seconds) the limits are built from.
CELL_TIMEOUT = 30        # one cell of the student's notebook
SUBMISSION_TIMEOUT = 120  # all the cells of one submission
CHECK_TIMEOUT = 10       # one question's check (all its requests)
START_TIMEOUT = 60       # a sandboxed kernel importing torch and convlab on a busy machine
RESTARTS = 4             # re-runs after a cell or check that killed or hung the kernel
HARD_MARGIN = 60         # the supervisor's last resort beyond the sum of the limits


@dataclass
class Limits:
    timeout: float = SUBMISSION_TIMEOUT
    cell_timeout: float = CELL_TIMEOUT
    check_timeout: float = CHECK_TIMEOUT
    memory_mb: int = 2048
    file_mb: int = 64
    processes: int = 64
    output_limit: int = 1_000_000
    tmp_mb: int = 256

    def hard_limit(self, questions: int) -> float:
        """The wall-clock limit the supervisor enforces on one submission, whatever happens inside."""
        restarts = RESTARTS * (START_TIMEOUT + self.cell_timeout)
        return self.timeout + restarts + questions * (self.check_timeout + 2) + START_TIMEOUT + HARD_MARGIN


@dataclass
class QuestionResult:
    id: str
    title: str
    points: float  # an int, or a fraction of max_points for a question with partial credit
    max_points: int
    passed: bool = False
    feedback: str = ""
    cases_passed: int | None = None  # questions with partial credit: cases passed out of cases_total
    cases_total: int | None = None


@dataclass
class Result:
    path: str
    student: str
    chapter: str | None
    sha256: str
    status: str = "graded"  # graded, invalid, timeout, error; missing or unknown with a roster
    score: float = 0
    max_score: int = 0
    seconds: float = 0.0
    sandbox: bool = True
    questions: list = field(default_factory=list)  # of QuestionResult
    notes: list = field(default_factory=list)
    graded_at: str = ""  # ISO 8601, UTC
    name: str = ""       # from the roster, when one is given
    email: str = ""
    section: str = ""
    sis_id: str = ""

    def total(self) -> None:
        self.score = round(sum(q.points for q in self.questions), 2)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "Result":
        fields = dict(data)
        fields["questions"] = [QuestionResult(**q) for q in data.get("questions", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in fields.items() if k in known})
