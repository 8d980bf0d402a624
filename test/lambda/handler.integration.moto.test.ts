/**
 * The handler's integration suite on moto instead of s3rver: the same tests, against a server that enforces
 * If-Match / If-None-Match (quoted entity tags) and stores the checksums the SDK sends.
 */
import "../support/use-moto";
import "./handler.integration.test";
