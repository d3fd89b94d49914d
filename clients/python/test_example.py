"""Unit tests of example.py's parts that need no services: python3 -m unittest (in this directory)."""
import unittest

import example


class SignV4Test(unittest.TestCase):
    def test_matches_the_aws_documentation_example(self):
        # "GET Object" of the S3 documentation's Signature Version 4 examples (a single chunk).
        headers = {
            "host": "examplebucket.s3.amazonaws.com",
            "range": "bytes=0-9",
            "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "x-amz-date": "20130524T000000Z",
        }
        authorization = example.sign_v4("/test.txt", headers, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")
        self.assertEqual(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        )


class TableTest(unittest.TestCase):
    def test_absent_cells_show_a_dash_never_zero(self):
        from gap.v1 import coordinator_pb2 as coordinator

        row = coordinator.ResultRow(architecture=1, compression_ratio=1, quantized=True, nonzero_parameters=10)
        line = example.format_table([row]).splitlines()[2]
        self.assertEqual(line.split(), ["resnet20", "unpruned", "1", "0", "yes", "–", "–", "–", "–", "10", "–"])


if __name__ == "__main__":
    unittest.main()
