/** The tests' moto: the same launcher local mode uses (tools/local/moto-server.ts). */
export * from "../../tools/local/moto-server";
