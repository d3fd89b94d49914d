import { runServiceProcess } from "@gap/compute";
import { attackService } from "./handlers.js";

await runServiceProcess("attack", attackService);
