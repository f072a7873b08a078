/**
 * The data functions: where Fashion-MNIST is (dataInfo), whether a copy is
 * intact and which one it is (verifyData), and fetching the official files
 * into the cache (downloadData). Print nothing.
 */
import { dataInfo as findData, downloadData as fetchData, verifyData as checkData } from '../data/fashionMnist.js';
import type { DataInfo, DataOptions, DownloadDataOptions, DownloadReport, VerifyDataOptions, VerifyReport } from './toolOptions.js';

/** Every place searched, in order, and what the copy training would load holds (headers and class counts; fast). */
export function dataInfo(o: DataOptions = {}): Promise<DataInfo> {
  return findData(o);
}

/**
 * IDX validity, counts and checksums of the copy training would load (or of
 * `dir`); `ok` when all are valid and identify a known copy. Rejects with
 * DataError when there is no complete copy to verify.
 */
export function verifyData(o: VerifyDataOptions = {}): Promise<VerifyReport> {
  return checkData(o);
}

/** Download the official .gz files (MD5 checked) into `<cacheDir>/official`; files already there are kept unless `force`. Rejects with DataError. */
export function downloadData(o: DownloadDataOptions = {}): Promise<DownloadReport> {
  return fetchData(o);
}
