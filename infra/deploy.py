"""`make deploy`: enable the APIs, then `terraform init` and `terraform apply` infra/terraform.

    python3 -m infra.deploy --project P --region R [--bucket B] [--state-bucket S]
                            [--invoker MEMBER ...] [--auto-approve] [--dry-run]

It runs with the system python3 (stdlib only), as `make deploy` calls it before any venv.
Missing tools stop it at once with one line. State is local (infra/terraform/terraform.tfstate)
unless --state-bucket names a bucket for the `gcs` backend, written to a git-ignored
backend_override.tf. --dry-run prints the commands instead of running them.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_MISSING = 2
TERRAFORM_DIR = Path(__file__).resolve().parent / "terraform"
BACKEND_OVERRIDE = TERRAFORM_DIR / "backend_override.tf"
STATE_PREFIX = "serverless-ml-inference"
TOOLS = {
    "terraform": "https://developer.hashicorp.com/terraform/install",
    "gcloud": "https://cloud.google.com/sdk/docs/install",
}
# What the deployed system uses; enabling an enabled API is a no-op.
APIS = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
)


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make deploy", description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="Google Cloud project id")
    parser.add_argument("--region", required=True, help="e.g. europe-west1")
    parser.add_argument(
        "--bucket", help="registry bucket (names are global; default: <project>-ml-artifacts)"
    )
    parser.add_argument("--state-bucket", help="keep Terraform state in this existing bucket")
    parser.add_argument(
        "--invoker",
        action="append",
        default=[],
        help="a member allowed to call predict_batch, e.g. user:ana@example.com (repeatable)",
    )
    parser.add_argument("--auto-approve", action="store_true", help="apply without asking")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    return parser.parse_args(argv)


def backend_override(state_bucket: str) -> str:
    return (
        "# Written by infra/deploy.py (--state-bucket); git-ignored.\n"
        "terraform {\n"
        '  backend "gcs" {\n'
        f'    bucket = "{state_bucket}"\n'
        f'    prefix = "{STATE_PREFIX}"\n'
        "  }\n"
        "}\n"
    )


def terraform_variables(args: argparse.Namespace) -> list[str]:
    bucket = args.bucket or f"{args.project}-ml-artifacts"
    invokers = "[" + ", ".join(f'"{member}"' for member in args.invoker) + "]"
    return [
        f"-var=project_id={args.project}",
        f"-var=region={args.region}",
        f"-var=bucket={bucket}",
        f"-var=predict_batch_invokers={invokers}",
    ]


def commands(args: argparse.Namespace) -> list[list[str]]:
    """Every command of the deployment, in order."""
    chdir = f"-chdir={TERRAFORM_DIR}"
    apply = ["terraform", chdir, "apply", "-input=false", *terraform_variables(args)]
    if args.auto_approve:
        apply.append("-auto-approve")
    return [
        ["gcloud", "services", "enable", *APIS, f"--project={args.project}"],
        ["terraform", chdir, "init", "-input=false"],
        apply,
        ["terraform", chdir, "output"],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    missing = missing_tools()
    if missing and not args.dry_run:
        needed = "; ".join(f"{tool} ({TOOLS[tool]})" for tool in missing)
        print(f"make deploy needs {needed} on PATH", file=sys.stderr)
        return EXIT_MISSING
    if args.state_bucket:
        if args.dry_run:
            print(f"# {BACKEND_OVERRIDE.name}:\n{backend_override(args.state_bucket)}", end="")
        else:
            BACKEND_OVERRIDE.write_text(backend_override(args.state_bucket))
    for command in commands(args):
        print("+ " + shlex.join(command), flush=True)
        if args.dry_run:
            continue
        result = subprocess.run(command, check=False)  # noqa: S603 - argv of commands(), no shell
        if result.returncode != 0:
            print(f"make deploy: `{command[0]}` failed with exit code {result.returncode}")
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
