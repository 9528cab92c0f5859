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
  type SimulatorOptions,
  type SubmitRecord,
} from './simulator.js';
