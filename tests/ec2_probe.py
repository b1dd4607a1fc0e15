"""What a client sees of EC2's instance types, offerings and regions, and of a managed Batch compute environment.

Run as a script, it prints stock moto's answers (`mock_aws` in a process that never imports
emulators/, so moto.ec2 loads its data at import as shipped); tests/test_lazy_ec2.py compares
them with the embedded emulator's, where emulators/lazy_ec2.py loads the same data on first use.
"""

import json
import sys

import boto3
from botocore.exceptions import ClientError

#: (region, location type) of the offerings compared: each location type, and another region
OFFERINGS = [("ap-southeast-2", "region"), ("eu-west-1", "availability-zone"), ("eu-west-1", "availability-zone-id")]


def error(method, **kwargs):
    try:
        method(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"]
    return None


def ec2_data(make) -> dict:
    """DescribeRegions, DescribeInstanceTypeOfferings (each location type) and DescribeInstanceTypes."""
    seen = {"regions": make("ec2", "us-east-1").describe_regions(AllRegions=True)["Regions"]}
    for region, location_type in OFFERINGS:
        seen[f"offerings {region} {location_type}"] = make("ec2", region).describe_instance_type_offerings(
            LocationType=location_type)["InstanceTypeOfferings"]
    ec2 = make("ec2", "eu-west-1")
    seen["spot prices eu-west-1"] = sorted(
        (p["InstanceType"], p["AvailabilityZone"]) for p in ec2.describe_spot_price_history()["SpotPriceHistory"])
    ec2 = make("ec2", "us-east-1")
    seen["filtered offerings"] = ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["m5.large", "t3.micro"]}],
    )["InstanceTypeOfferings"]
    seen["all types"] = ec2.describe_instance_types()["InstanceTypes"]
    seen["some types"] = ec2.describe_instance_types(InstanceTypes=["m5.large", "t3.micro"])["InstanceTypes"]
    seen["unknown type"] = error(ec2.describe_instance_types, InstanceTypes=["z9.mega"])
    seen["run in an unoffered zone"] = error(ec2.run_instances, ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                             InstanceType="m5.large", Placement={"AvailabilityZone": "eu-west-1a"})
    return seen


def managed_compute_environment(make) -> dict:
    """A managed Batch compute environment: its instance types are validated and its instances started."""
    iam, ec2, batch = make("iam", "us-east-1"), make("ec2", "us-east-1"), make("batch", "us-east-1")
    role = iam.create_role(RoleName="batch-managed", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instances")["InstanceProfile"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]

    def create(name, instance_types):
        resources = {"type": "EC2", "minvCpus": 0, "desiredvCpus": 6, "maxvCpus": 16, "instanceTypes": instance_types,
                     "subnets": [subnet], "securityGroupIds": [group], "instanceRole": profile}
        return error(batch.create_compute_environment, computeEnvironmentName=name, type="MANAGED",
                     state="ENABLED", computeResources=resources, serviceRole=role)

    seen = {"created": create("managed", ["m5.large", "c5"]),
            "optimal": create("optimal", ["optimal"]),
            "unknown type": create("unknown-type", ["z9.mega"]),
            "unknown family": create("unknown-family", ["z9"])}
    # Only this probe's: the process's other services (a test session's) have unmanaged ones of their own.
    described = batch.describe_compute_environments(
        computeEnvironments=["managed", "optimal", "unknown-type", "unknown-family"])["computeEnvironments"]
    seen["environments"] = sorted((c["computeEnvironmentName"], c["status"], c["computeResources"]["instanceTypes"])
                                  for c in described)
    reservations = ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"]
    seen["instances"] = sorted(i["InstanceType"] for r in reservations for i in r["Instances"])
    return seen


def answers(make) -> dict:
    """Every probe's answers, by a client factory make(service, region)."""
    return {"ec2": ec2_data(make), "batch": managed_compute_environment(make)}


def main() -> None:
    from moto import mock_aws

    with mock_aws():
        out = answers(lambda service, region: boto3.client(service, region_name=region))
    assert "emulators" not in sys.modules, "stock moto's answers must come from a process without emulators/"
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
