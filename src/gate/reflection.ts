/**
 * gRPC server reflection (`grpc.reflection.v1` and, for older tools, `v1alpha`), answered from
 * the descriptors embedded in `gen/`. connect-es has no package for it; the two versions have
 * the same messages, so one function answers both. Besides the served services it describes
 * every message that can travel in an error's details, so that clients which decode details
 * through reflection (grpcurl) print a refusal's details decoded.
 */
import { create, toBinary, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter } from '@connectrpc/connect';
import { file_fluxgate_v1_errors } from '../../gen/fluxgate/v1/errors_pb.js';
import { file_google_rpc_error_details } from '../../gen/google/rpc/error_details_pb.js';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

/** A service the router serves, as reflection lists it. */
interface ServedService {
  readonly typeName: string;
  readonly file: DescFile;
}

/** The request's one-of, identical in both versions. */
type Question = v1.ServerReflectionRequest['messageRequest'];

/** The answer's one-of, without the version's type names (both versions accept it). */
type Answer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | {
      case: 'allExtensionNumbersResponse';
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

/**
 * The files of every message that can appear in an error's details: google.rpc's standard
 * details (ErrorInfo, RetryInfo, ...) and the project's own (WaitingRoomTicket, ...), as built by
 * src/gate/error-mapping.ts. No method's input or output names them, so the walk from the
 * services alone would never reach them.
 */
const errorDetailFiles: readonly DescFile[] = [
  file_google_rpc_error_details,
  file_fluxgate_v1_errors,
];

/** gRPC's NOT_FOUND and INVALID_ARGUMENT codes, as reflection's ErrorResponse carries them. */
const notFound = 5;
const invalidArgument = 3;

/** Every file, symbol and extension reachable from the served services and the extra files. */
class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Map<string, DescMessage>();
  private readonly extensions = new Map<string, Map<number, DescFile>>();

  constructor(
    readonly services: readonly ServedService[],
    extraFiles: readonly DescFile[],
  ) {
    for (const service of services) this.addFile(service.file);
    for (const file of extraFiles) this.addFile(file);
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    file.dependencies.forEach((dependency) => {
      this.addFile(dependency);
    });
    const addMessage = (message: DescMessage) => {
      this.symbols.set(message.typeName, file);
      this.messages.set(message.typeName, message);
      message.nestedMessages.forEach(addMessage);
      for (const nested of message.nestedEnums) this.symbols.set(nested.typeName, file);
      for (const extension of message.nestedExtensions) this.addExtension(extension, file);
    };
    file.messages.forEach(addMessage);
    for (const enumeration of file.enums) this.symbols.set(enumeration.typeName, file);
    for (const extension of file.extensions) this.addExtension(extension, file);
    for (const service of file.services) {
      this.symbols.set(service.typeName, file);
      for (const method of service.methods)
        this.symbols.set(`${service.typeName}.${method.name}`, file);
    }
  }

  private addExtension(
    extension: { typeName: string; number: number; extendee: DescMessage },
    file: DescFile,
  ): void {
    this.symbols.set(extension.typeName, file);
    const byNumber =
      this.extensions.get(extension.extendee.typeName) ?? new Map<number, DescFile>();
    byNumber.set(extension.number, file);
    this.extensions.set(extension.extendee.typeName, byNumber);
  }

  /** The file and everything it imports, each once, the file first. */
  private withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      f.dependencies.forEach(visit);
    };
    visit(file);
    return out;
  }

  answer(question: Question): Answer {
    const files = (file: DescFile | undefined, what: string): Answer =>
      file === undefined
        ? {
            case: 'errorResponse',
            value: { errorCode: notFound, errorMessage: `${what} not found` },
          }
        : {
            case: 'fileDescriptorResponse',
            value: { fileDescriptorProto: this.withDependencies(file) },
          };
    switch (question.case) {
      case 'listServices':
        return {
          case: 'listServicesResponse',
          value: { service: this.services.map((s) => ({ name: s.typeName })) },
        };
      case 'fileByFilename':
        return files(this.files.get(question.value), `file ${question.value}`);
      case 'fileContainingSymbol':
        return files(this.symbols.get(question.value), `symbol ${question.value}`);
      case 'fileContainingExtension': {
        const { containingType, extensionNumber } = question.value;
        return files(
          this.extensions.get(containingType)?.get(extensionNumber),
          `extension ${String(extensionNumber)} of ${containingType}`,
        );
      }
      case 'allExtensionNumbersOfType': {
        if (!this.messages.has(question.value)) {
          return files(undefined, `type ${question.value}`);
        }
        return {
          case: 'allExtensionNumbersResponse',
          value: {
            baseTypeName: question.value,
            extensionNumber: [...(this.extensions.get(question.value)?.keys() ?? [])],
          },
        };
      }
      case undefined:
        return {
          case: 'errorResponse',
          value: { errorCode: invalidArgument, errorMessage: 'empty reflection request' },
        };
    }
  }
}

/**
 * Registers both reflection versions on `router`, describing `services` (as listed by
 * ListServices), the reflection services themselves and the messages of `errorDetailFiles`.
 */
export function addReflection(router: ConnectRouter, services: readonly ServedService[]): void {
  const reflectionServices = [v1.ServerReflection, v1alpha.ServerReflection];
  const index = new DescriptorIndex(
    [...services, ...reflectionServices.map((s) => ({ typeName: s.typeName, file: s.file }))],
    errorDetailFiles,
  );
  // Both versions answer alike; only the message types differ.
  const reply = (request: { host: string; messageRequest: Question }) => ({
    validHost: request.host,
    messageResponse: index.answer(request.messageRequest),
  });
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, {
          ...reply(request),
          originalRequest: request,
        });
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        const question = request.messageRequest as Question;
        yield create(v1alpha.ServerReflectionResponseSchema, {
          ...reply({ host: request.host, messageRequest: question }),
          originalRequest: request,
        });
      }
    },
  });
}
