import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { Asset as AssetRow, JsonObject } from '@likeness/db';
import { PageInfo } from '../identity/identity.model';

export enum AssetKind {
  IMAGE = 'IMAGE',
  AUDIO = 'AUDIO',
  VIDEO = 'VIDEO',
}
registerEnumType(AssetKind, {
  name: 'AssetKind',
  description: 'What an uploaded file is, from its content (never from its name or header).',
});

@ObjectType({ description: 'A time-limited download link served by the gateway.' })
export class SignedUrl {
  @Field({ description: 'Absolute when the gateway knows its public URL or the request host.' })
  url!: string;
  @Field({ description: 'After this the link answers 410; ask for the asset again.' })
  expiresAt!: Date;
}

@ObjectType({ description: 'An uploaded image, audio track or video (POST /v1/assets).' })
export class Asset {
  @Field(() => ID) id!: string;
  @Field(() => AssetKind) kind!: AssetKind;
  @Field({ description: 'Media type found by sniffing, e.g. image/jpeg, audio/wav.' })
  mime!: string;
  @Field(() => Float, { description: 'Size in bytes (a Float: uploads may exceed 2^31).' })
  bytes!: number;
  @Field({ description: 'Lowercase hex sha256 of the stored bytes.' }) sha256!: string;
  @Field(() => Int, {
    nullable: true,
    description: 'Images and videos, in pixels, after EXIF orientation.',
  })
  width!: number | null;
  @Field(() => Int, { nullable: true }) height!: number | null;
  @Field(() => Float, { nullable: true, description: 'Audio and video.' })
  durationSeconds!: number | null;
  @Field(() => Int, { nullable: true, description: 'Audio (and the audio track of a video).' })
  sampleRate!: number | null;
  @Field(() => Int, { nullable: true }) channels!: number | null;
  @Field() createdAt!: Date;
  // `url: SignedUrl!` is resolved by AssetsResolver.
}

@ObjectType()
export class AssetEdge {
  @Field() cursor!: string;
  @Field(() => Asset) node!: Asset;
}

@ObjectType({ description: 'Assets, newest first.' })
export class AssetConnection {
  @Field(() => [AssetEdge]) edges!: AssetEdge[];
  @Field(() => [Asset], { description: 'The nodes of `edges`, for callers without cursors.' })
  nodes!: Asset[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

/** Default and largest page of `assets`. */
export const ASSETS_PAGE = { default: 20, max: 100 } as const;

function numberIn(probe: JsonObject, key: string): number | null {
  const value = probe[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function intIn(probe: JsonObject, key: string): number | null {
  const value = numberIn(probe, key);
  return value !== null && Number.isSafeInteger(value) && Math.abs(value) < 2 ** 31 ? value : null;
}

export function toAssetNode(row: AssetRow): Asset {
  return {
    id: row.id,
    kind: AssetKind[row.kind],
    mime: row.mime,
    bytes: row.bytes,
    sha256: row.sha256,
    width: intIn(row.probe, 'width'),
    height: intIn(row.probe, 'height'),
    durationSeconds: numberIn(row.probe, 'durationSeconds'),
    sampleRate: intIn(row.probe, 'sampleRate'),
    channels: intIn(row.probe, 'channels'),
    createdAt: row.createdAt,
  };
}
