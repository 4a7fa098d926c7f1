"""Packaging for the Ebuy customer-identity batch job."""

from pathlib import Path

from setuptools import find_packages, setup

# one console command per job: ebuy-ingest -> jobs.ingest:main (Databricks wheel tasks use these)
JOBS = ["generate_sources", "ingest", "resolve", "evaluate", "assess", "explain", "review", "analyse", "pseudonymise", "pipeline"]

setup(
    name="ebuy-customer-identity",
    version="0.1.0",
    description="Resolve Ebuy Emporium's platform, CRM and guest-checkout records into one golden customer table on Spark.",
    python_requires=">=3.10",
    package_dir={"": "lib", "jobs": "jobs"},
    packages=[*find_packages("lib"), "jobs"],
    package_data={"customer_identity": ["data/*.csv", "report/templates/*.j2"]},
    # the configuration travels with the wheel; customer_identity.config finds it there
    data_files=[("share/ebuy-customer-identity/conf", sorted(str(p) for p in Path("conf").glob("*.yaml")))],
    entry_points={"console_scripts": [f"ebuy-{name.replace('_', '-')}=jobs.{name}:main" for name in JOBS]},
    install_requires=[
        "pyspark==4.0.1",
        "delta-spark==4.0.0",  # declares pyspark>=4.0.0,<4.1.0
        "splink==5.0.0",
        "graphframes-py==0.10.1",
        "typing_extensions>=4.8",  # imported by graphframes-py, which does not declare it
        "pyyaml>=6.0",
        "nicknames==1.0.1",
        "faker>=30",
        "pandas>=2.0",
        "pyarrow>=15",  # ingestion parses export files on the executors (mapInArrow)
        "pydantic>=2.7",  # the configuration's models
        "jinja2>=3.1",  # the report's and trust pages' templates
        "altair==6.3.0",  # their charts (Vega-Lite)
        "vl-convert-python==1.9.0.post1",  # the Vega libraries for the Vega-Lite version Altair writes, inlined so pages open offline
    ],
    extras_require={
        "dev": ["pytest>=8", "chispa==0.12.0", "networkx>=3.2", "ruff>=0.6", "jupytext>=1.16", "nbclient>=0.10", "ipykernel>=6.29",
                # sample data sets with true person ids: the example overlays and tests on data that is not ours
                "pseudopeople==1.3.1",
                # a real S3 endpoint on 127.0.0.1 for the object-store test (moto's server; boto3 creates its bucket)
                "moto[server]>=5.1", "boto3>=1.34"],
    },
)
