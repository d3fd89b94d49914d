import { runServiceProcess } from "@gap/compute";
import { pruningService } from "./handlers.js";

await runServiceProcess("pruning", pruningService);
