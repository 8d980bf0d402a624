import { Testing } from "cdktf";
import { afterAll } from "vitest";
import { removeTempDirs } from "./temp";

Testing.setupJest();

afterAll(() => removeTempDirs());
