"""`make deploy`: enable the APIs, `terraform init` and `terraform apply` infra/terraform, then
build the batch scoring job's image and Flex Template (scoring/cloudbuild.yaml).

    python3 -m infra.deploy --project P --region R [--bucket B] [--state-bucket S]
                            [--invoker MEMBER ...] [--launcher MEMBER ...]
                            [--auto-approve] [--dry-run]

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
ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = ROOT / "infra" / "terraform"
SCORING_BUILD = ROOT / "scoring" / "cloudbuild.yaml"
# Account ids Terraform creates (tests/infra/test_deploy.py checks that they agree): the build
# runs as the build identity, and the template's jobs as the scoring workers' account.
BUILDER_ACCOUNT = "function-builder"
SCORING_WORKER_ACCOUNT = "dataflow-scoring"
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
    "dataflow.googleapis.com",
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
    parser.add_argument(
        "--launcher",
        action="append",
        default=[],
        help="a member allowed to launch the batch scoring job, e.g. group:ml@example.com "
        "(repeatable; also needs Dataflow Developer on the project)",
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


def members(listed: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{member}"' for member in listed) + "]"


def terraform_variables(args: argparse.Namespace) -> list[str]:
    bucket = args.bucket or f"{args.project}-ml-artifacts"
    return [
        f"-var=project_id={args.project}",
        f"-var=region={args.region}",
        f"-var=bucket={bucket}",
        f"-var=predict_batch_invokers={members(args.invoker)}",
        f"-var=scoring_launchers={members(args.launcher)}",
    ]


def service_account(account: str, project: str) -> str:
    return f"{account}@{project}.iam.gserviceaccount.com"


def scoring_build(args: argparse.Namespace) -> list[str]:
    """Builds the scoring image and template: the bucket, repository and accounts it uses
    exist only once Terraform has applied."""
    bucket = f"{args.project}-scoring"
    substitutions = {
        "_REGION": args.region,
        "_BUCKET": bucket,
        "_WORKER": service_account(SCORING_WORKER_ACCOUNT, args.project),
    }
    builder = service_account(BUILDER_ACCOUNT, args.project)
    return [
        "gcloud",
        "builds",
        "submit",
        str(ROOT),
        f"--config={SCORING_BUILD}",
        f"--project={args.project}",
        f"--service-account=projects/{args.project}/serviceAccounts/{builder}",
        f"--gcs-source-staging-dir=gs://{bucket}/source",
        "--substitutions=" + ",".join(f"{key}={value}" for key, value in substitutions.items()),
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
        scoring_build(args),
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
