/** Imported first by a test file that runs an s3rver suite on moto instead (see startTestS3). */
process.env.CIX_TEST_S3 = "moto";
