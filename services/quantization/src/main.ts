import { runServiceProcess } from "@gap/compute";
import { quantizationService } from "./handlers.js";

await runServiceProcess("quantization", quantizationService);
