"""A retraining interval as a Cloud Scheduler schedule (unix-cron, in the job's time zone) and
the Terraform line that sets it (docs/retraining.md).

cron counts days within a month, not from a start: every 1 and every 7 days are exact; other
intervals under 28 days restart their count on each month's 1st (`*/3`: the 1st, 4th, ...,
31st, then the 1st again); longer ones become whole months.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3  # a quiet hour, in the Scheduler job's time zone
TERRAFORM_VARIABLE = "retraining_schedule"
_MONTH_DAYS = 30.4


@dataclass(frozen=True)
class Schedule:
    interval_days: int
    cron: str
    exact: bool  # False: the cron runs about, not exactly, every interval_days

    @property
    def terraform(self) -> str:
        return f'{TERRAFORM_VARIABLE} = "{self.cron}"'

    def describe(self) -> str:
        if self.exact:
            return f"every {self.interval_days} days"
        return f"about every {self.interval_days} days: cron counts days within a month"

    def as_dict(self) -> dict[str, object]:
        return {"cron": self.cron, "exact": self.exact, "terraform": self.terraform}


def schedule(interval_days: int) -> Schedule:
    if interval_days < 1:
        raise ValueError(f"interval {interval_days} days: at least 1")
    if interval_days == 1:
        return Schedule(1, f"0 {HOUR} * * *", exact=True)
    if interval_days == 7:
        return Schedule(7, f"0 {HOUR} * * 1", exact=True)  # Mondays
    if interval_days < 28:
        return Schedule(interval_days, f"0 {HOUR} */{interval_days} * *", exact=False)
    months = min(12, max(1, round(interval_days / _MONTH_DAYS)))
    if months == 12:
        return Schedule(interval_days, f"0 {HOUR} 1 1 *", exact=False)
    every = "*" if months == 1 else f"*/{months}"
    return Schedule(interval_days, f"0 {HOUR} 1 {every} *", exact=False)
