export {
  Simulator,
  startSimulator,
  type BindRecord,
  type Counters,
  type DeliverRespRecord,
  type IdFormat,
  type ManualReceipt,
  type MoOptions,
  type Received,
  type ReceiptForm,
  type RecentSubmit,
  type SessionInfo,
  type SimulatorOptions,
  type SubmitRecord,
} from './simulator.js';
export { CONTROL_HOST, startControlServer, type ControlOptions, type ControlServer } from './control.js';
