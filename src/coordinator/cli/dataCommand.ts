/** `pixelsense data info|verify|download`: the library's dataInfo(), verifyData() and downloadData(), printed. */
import { dataInfo, downloadData, verifyData } from '../api/data.js';
import { formatDataInfo, formatDownloadReport, formatVerifyReport } from '../data/fashionMnist.js';

export interface DataArgs {
  action: 'info' | 'verify' | 'download';
  'data-dir'?: string;
  force?: boolean;
  json?: boolean;
}

export async function runData(argv: DataArgs): Promise<number> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const opts = { dataDir: argv['data-dir'], log };
  const print = (value: unknown, text: string) => process.stdout.write(argv.json ? `${JSON.stringify(value)}\n` : `${text}\n`);
  switch (argv.action) {
    case 'info': {
      const info = await dataInfo(opts);
      print(info, formatDataInfo(info));
      return 0;
    }
    case 'verify': {
      const r = await verifyData(opts);
      print(r, formatVerifyReport(r));
      return r.ok ? 0 : 2;
    }
    case 'download': {
      const r = await downloadData({ ...opts, force: argv.force === true });
      print(r, formatDownloadReport(r));
      return 0;
    }
  }
}
