export { Simulator, startSimulator } from './simulator.js';
export type {
  BindRecord,
  Counters,
  DeliverRespRecord,
  IdFormat,
  ManualReceipt,
  MoOptions,
  Received,
  ReceiptForm,
  RecentSubmit,
  SessionInfo,
  SimulatorOptions,
  SubmitRecord,
} from './types.js';
export { CONTROL_HOST, startControlServer, type ControlOptions, type ControlServer } from './control.js';
