import { runServiceProcess } from "@gap/compute";
import { trainingService } from "./handlers.js";

await runServiceProcess("training", trainingService);
