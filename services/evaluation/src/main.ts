import { runServiceProcess } from "@gap/compute";
import { evaluationService } from "./handlers.js";

await runServiceProcess("evaluation", evaluationService);
