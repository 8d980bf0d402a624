/**
 * The baseline of the cold-start benchmark: a function that holds the S3 client and nothing else. Its load
 * time is what any function using the SDK's S3 client pays; the indexer's is reported as a ratio to it.
 */
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";

const s3 = new S3Client({});

export const handler = async (event: { Bucket: string; Key: string }) => s3.send(new GetObjectCommand(event));
