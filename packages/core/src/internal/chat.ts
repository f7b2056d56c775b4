import * as Chat from "../Chat.js"
import { trustedMake } from "./trusted.js"

/**
 * A chat with some fields replaced, not parsed again: the engine builds chats only from parts that are already
 * valid, several times per item (see `trustedMake`).
 */
export const copyChat = (chat: Chat.Chat, patch: Partial<Chat.Fields>): Chat.Chat =>
  trustedMake(Chat.Chat, { ...chat, ...patch } as Chat.Fields)

/** A new chat from valid parts, not parsed again (see {@link copyChat}). */
export const makeChat = (fields: Chat.Fields): Chat.Chat => trustedMake(Chat.Chat, fields)
