/** Version of mailproxy for `mailproxy -v/-V/version` (the runtime's is runtimeVersion() in runtime.ts). */
export const VERSION = "0.1.0";
